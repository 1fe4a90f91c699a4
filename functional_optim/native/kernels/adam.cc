// Adam and AdamW: torch's _single_tensor_adam, op by op (see functional_optim/algorithms/adam.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct Adam {
  // The scalars row, in this order (computed by the Python step).
  enum Scalar { kDecayFactor, kWeightDecay, kOneMinusBeta1, kBeta2, kOneMinusBeta2, kStepSize, kBiasCorrection2Sqrt, kEps, kNumScalars };
  enum Flag : unsigned { kAmsgrad = 1, kL2 = 2, kDecoupled = 4, kNumVariants = 8 };

  static int64_t NumStates(unsigned flags) { return flags & kAmsgrad ? 3 : 2; }  // exp_avg, exp_avg_sq[, max_exp_avg_sq]

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    const C decay_factor = s[kDecayFactor], weight_decay = St::Round(s[kWeightDecay]), eps = St::Round(s[kEps]);
    const C one_minus_beta1 = s[kOneMinusBeta1], beta2 = s[kBeta2], one_minus_beta2 = s[kOneMinusBeta2];
    const C step_size = s[kStepSize], bias_correction2_sqrt = s[kBiasCorrection2Sqrt];
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict exp_avgs = Array<S>(leaf, 2);
    S* __restrict exp_avg_sqs = Array<S>(leaf, 3);
    S* __restrict max_exp_avg_sqs = Array<S>(leaf, 4);
    for (size_t i = begin; i < end; ++i) {
      const C grad_in = St::Load(grads[i]);
      C grad = NegatedIf(maximize, grad_in);
      C param = St::Load(params[i]);
      if constexpr (kFlags & kDecoupled) param = St::Round(param * decay_factor);  // param.mul_(1 - lr * wd)
      if constexpr (kFlags & kL2) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const C exp_avg = St::Round(Lerp(St::Load(exp_avgs[i]), grad, one_minus_beta1));
      const C exp_avg_sq =
          St::Round(std::fma(one_minus_beta2 * grad, grad, St::Round(St::Load(exp_avg_sqs[i]) * beta2)));
      exp_avgs[i] = St::Save(exp_avg);
      exp_avg_sqs[i] = St::Save(exp_avg_sq);
      C second_moment = exp_avg_sq;
      if constexpr (kFlags & kAmsgrad) {  // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = Maximum(St::Load(max_exp_avg_sqs[i]), exp_avg_sq);
        max_exp_avg_sqs[i] = St::Save(second_moment);
      }
      // (second_moment.sqrt() / bias_correction2_sqrt).add_(eps): three ops, each stored
      const C root = St::Round(std::sqrt(second_moment));
      const C denom = St::Round(St::Round(root / bias_correction2_sqrt) + eps);
      // param.addcdiv_(exp_avg, denom, value=-step_size): (value * exp_avg) / denom, added
      params[i] = St::Save(param - (step_size * exp_avg) / denom);
    }
  }
};

enum WeightDecay : int64_t { kNoDecay = 0, kL2Decay = 1, kDecoupledDecay = 2 };

ffi::Error AdamStep(ffi::AnyBuffer scalars, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t maximize,
    int64_t num_states, int64_t amsgrad, int64_t weight_decay, ffi::ThreadPool pool) {
  if (weight_decay != kNoDecay && weight_decay != kL2Decay && weight_decay != kDecoupledDecay) {
    return ffi::Error::InvalidArgument("weight_decay must be 0 (none), 1 (L2) or 2 (decoupled)");
  }
  const unsigned flags = (amsgrad ? Adam::kAmsgrad : 0u) | (weight_decay == kL2Decay ? Adam::kL2 : 0u) |
                         (weight_decay == kDecoupledDecay ? Adam::kDecoupled : 0u);
  return Step<Adam>(flags, maximize, scalars, args, rets, num_states, pool);
}

}  // namespace
}  // namespace functional_optim

XLA_FFI_DEFINE_HANDLER_SYMBOL(FunctionalOptimAdam, functional_optim::AdamStep,
                              functional_optim::KernelBinding()
                                  .Attr<int64_t>("amsgrad")
                                  .Attr<int64_t>("weight_decay")
                                  .Ctx<xla::ffi::ThreadPool>());
