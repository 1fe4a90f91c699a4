// ASGD: torch's _single_tensor_asgd, op by op (see functional_optim/algorithms/asgd.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct ASGD {
  // The scalars row, in this order (computed by the Python step from the tree's eta and mu).
  enum Scalar { kWeightDecay, kDecayFactor, kNegEta, kMu, kCopy, kNumScalars };
  enum Flag : unsigned { kDecay = 1, kNumVariants = 2 };

  static int64_t NumStates(unsigned) { return 1; }  // ax

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    // torch rounds an ``alpha`` to a half-precision tensor's dtype; a multiplier (even the 0-d mu) it does not
    const C weight_decay = St::Round(s[kWeightDecay]), neg_eta = St::Round(s[kNegEta]);
    const C decay_factor = s[kDecayFactor], mu = s[kMu];
    const bool copy = s[kCopy] != C(0);  // mu == 1: ax.copy_(param)
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict axs = Array<S>(leaf, 2);
    for (size_t i = begin; i < end; ++i) {
      C param = St::Load(params[i]);
      const C grad_in = St::Load(grads[i]);
      C grad = NegatedIf(maximize, grad_in);
      if constexpr (kFlags & kDecay) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      param = St::Round(param * decay_factor);              // param.mul_(1 - lambd * eta)
      param = St::Round(std::fma(grad, neg_eta, param));    // param.add_(grad, alpha=-eta)
      params[i] = St::Save(param);
      const C ax = St::Load(axs[i]);
      const C averaged = St::Round(ax + St::Round(St::Round(param - ax) * mu));  // ax.add_(param.sub(ax).mul_(mu))
      axs[i] = St::Save(Select(copy, param, averaged));
    }
  }
};

}  // namespace
}  // namespace functional_optim

FO_DEFINE_WEIGHT_DECAY_HANDLER(FunctionalOptimASGD, functional_optim::ASGD);
