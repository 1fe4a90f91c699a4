// Adadelta: torch's _single_tensor_adadelta, op by op (see functional_optim/algorithms/adadelta.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct Adadelta {
  // The scalars row, in this order (computed by the Python step).
  enum Scalar { kWeightDecay, kRho, kOneMinusRho, kEps, kLr, kNumScalars };
  enum Flag : unsigned { kDecay = 1, kNumVariants = 2 };

  static int64_t NumStates(unsigned) { return 2; }  // square_avg, acc_delta

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    // torch rounds an ``alpha`` and an added scalar to a half-precision tensor's dtype; a multiplier it does not
    const C weight_decay = St::Round(s[kWeightDecay]), eps = St::Round(s[kEps]), minus_lr = -St::Round(s[kLr]);
    const C rho = s[kRho], one_minus_rho = s[kOneMinusRho];
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict square_avgs = Array<S>(leaf, 2);
    S* __restrict acc_deltas = Array<S>(leaf, 3);
    for (size_t i = begin; i < end; ++i) {
      const C param = St::Load(params[i]);
      const C grad_in = St::Load(grads[i]);
      C grad = NegatedIf(maximize, grad_in);
      if constexpr (kFlags & kDecay) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      // square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
      const C square_avg = St::Round(std::fma(one_minus_rho * grad, grad, St::Round(St::Load(square_avgs[i]) * rho)));
      square_avgs[i] = St::Save(square_avg);
      const C std = St::Round(std::sqrt(St::Round(square_avg + eps)));  // square_avg.add(eps).sqrt_()
      const C acc_delta = St::Load(acc_deltas[i]);
      const C root = St::Round(std::sqrt(St::Round(acc_delta + eps)));  // acc_delta.add(eps).sqrt_()
      const C delta = St::Round(St::Round(root / std) * grad);         // delta.div_(std).mul_(grad)
      // acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
      acc_deltas[i] = St::Save(St::Round(std::fma(one_minus_rho * delta, delta, St::Round(acc_delta * rho))));
      params[i] = St::Save(std::fma(delta, minus_lr, param));  // param.add_(delta, alpha=-lr)
    }
  }
};

}  // namespace
}  // namespace functional_optim

FO_DEFINE_WEIGHT_DECAY_HANDLER(FunctionalOptimAdadelta, functional_optim::Adadelta);
