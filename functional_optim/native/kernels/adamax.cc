// Adamax: torch's _single_tensor_adamax, op by op (see functional_optim/algorithms/adamax.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct Adamax {
  // The scalars row, in this order (computed by the Python step).
  enum Scalar { kWeightDecay, kOneMinusBeta1, kBeta2, kEps, kClr, kNumScalars };
  enum Flag : unsigned { kDecay = 1, kNumVariants = 2 };

  static int64_t NumStates(unsigned) { return 2; }  // exp_avg, exp_inf

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    const C weight_decay = St::Round(s[kWeightDecay]), eps = St::Round(s[kEps]);
    const C one_minus_beta1 = s[kOneMinusBeta1], beta2 = s[kBeta2], clr = s[kClr];
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict exp_avgs = Array<S>(leaf, 2);
    S* __restrict exp_infs = Array<S>(leaf, 3);
    for (size_t i = begin; i < end; ++i) {
      const C param = St::Load(params[i]);
      C grad = NegatedIf(maximize, St::Load(grads[i]));
      if constexpr (kFlags & kDecay) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      const C exp_avg = St::Round(Lerp(St::Load(exp_avgs[i]), grad, one_minus_beta1));  // exp_avg.lerp_(grad, 1 - beta1)
      // torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf): abs is exact, the others stored
      const C exp_inf = Maximum(St::Round(St::Load(exp_infs[i]) * beta2), St::Round(std::fabs(grad) + eps));
      exp_avgs[i] = St::Save(exp_avg);
      exp_infs[i] = St::Save(exp_inf);
      params[i] = St::Save(param - (clr * exp_avg) / exp_inf);  // param.addcdiv_(exp_avg, exp_inf, value=-clr)
    }
  }
};

}  // namespace
}  // namespace functional_optim

FO_DEFINE_WEIGHT_DECAY_HANDLER(FunctionalOptimAdamax, functional_optim::Adamax);
