// Adam and AdamW: torch's _single_tensor_adam, op by op (see functional_optim/algorithms/adam.py).
#include "adam_family.h"

namespace functional_optim {
namespace {

struct Adam : AdamFamily<Adam> {
  // The scalars row, in this order (computed by the Python step): AdamFamily's, then these.
  enum Scalar { kStepSize = kNumShared, kBiasCorrection2Sqrt, kEps, kNumScalars };
  enum Flag : unsigned { kAmsgrad = kFirstOwnFlag, kNumVariants = 2 * kFirstOwnFlag };

  static int64_t NumStates(unsigned flags) { return flags & kAmsgrad ? 3 : 2; }  // exp_avg, exp_avg_sq[, max_exp_avg_sq]

  // The rest of the step, after AdamFamily's decay and moments.
  template <class S, unsigned kFlags, class C>
  FO_ELEMENT static C Finish(const Scalars<C, kNumScalars>& s, const Element<C>& e, S* __restrict max_exp_avg_sqs,
                             size_t i) {
    using St = Storage<S>;
    C second_moment = e.exp_avg_sq;
    if constexpr (kFlags & kAmsgrad) {  // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
      second_moment = Maximum(St::Load(max_exp_avg_sqs[i]), e.exp_avg_sq);
      max_exp_avg_sqs[i] = St::Save(second_moment);
    }
    // (second_moment.sqrt() / bias_correction2_sqrt).add_(eps): three ops, each stored
    const C root = St::Round(std::sqrt(second_moment));
    const C denom = St::Round(St::Round(root / s[kBiasCorrection2Sqrt]) + St::Round(s[kEps]));
    // param.addcdiv_(exp_avg, denom, value=-step_size): (value * exp_avg) / denom, added
    return e.param - (s[kStepSize] * e.exp_avg) / denom;
  }
};

ffi::Error AdamStep(ffi::AnyBuffer scalars, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t maximize,
    int64_t num_states, int64_t amsgrad, int64_t weight_decay, ffi::ThreadPool pool) {
  if (weight_decay < 0 || weight_decay > int64_t{Adam::kDecoupled}) {
    return ffi::Error::InvalidArgument("weight_decay must be 0 (none), 1 (L2) or 2 (decoupled)");
  }
  const unsigned flags = static_cast<unsigned>(weight_decay) | (amsgrad ? Adam::kAmsgrad : 0u);
  return Step<Adam>(flags, maximize, scalars, args, rets, num_states, pool);
}

}  // namespace
}  // namespace functional_optim

XLA_FFI_DEFINE_HANDLER_SYMBOL(FunctionalOptimAdam, functional_optim::AdamStep,
                              functional_optim::KernelBinding()
                                  .Attr<int64_t>("amsgrad")
                                  .Attr<int64_t>("weight_decay")
                                  .Ctx<xla::ffi::ThreadPool>());
