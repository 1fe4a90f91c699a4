// Adagrad: torch's _single_tensor_adagrad, op by op (see functional_optim/algorithms/adagrad.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct Adagrad {
  // The scalars row, in this order (computed by the Python step).
  enum Scalar { kClr, kWeightDecay, kEps, kNumScalars };
  enum Flag : unsigned { kDecay = 1, kNumVariants = 2 };

  static int64_t NumStates(unsigned) { return 1; }  // sum

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    const C clr = s[kClr], weight_decay = St::Round(s[kWeightDecay]), eps = St::Round(s[kEps]);
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict state_sums = Array<S>(leaf, 2);
    for (size_t i = begin; i < end; ++i) {
      const C param = St::Load(params[i]);
      const C grad_in = St::Load(grads[i]);
      C grad = NegatedIf(maximize, grad_in);
      if constexpr (kFlags & kDecay) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      const C sum = St::Round(std::fma(grad, grad, St::Load(state_sums[i])));  // sum.addcmul_(grad, grad, value=1)
      state_sums[i] = St::Save(sum);
      const C std = St::Round(St::Round(std::sqrt(sum)) + eps);  // sum.sqrt().add_(eps)
      params[i] = St::Save(param - (clr * grad) / std);      // param.addcdiv_(grad, std, value=-clr)
    }
  }
};

}  // namespace
}  // namespace functional_optim

FO_DEFINE_WEIGHT_DECAY_HANDLER(FunctionalOptimAdagrad, functional_optim::Adagrad);
