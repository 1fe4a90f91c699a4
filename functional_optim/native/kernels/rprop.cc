// Rprop: torch's _single_tensor_rprop, op by op (see functional_optim/algorithms/rprop.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

// torch.sign on CPU: 1, -1 or 0 (0 for NaN).
template <class C>
FO_ELEMENT C Sign(C x) {
  return Select(x > C(0), C(1), Select(x < C(0), C(-1), C(0)));
}

struct Rprop {
  // The scalars row, in this order (the step's hyperparameters).
  enum Scalar { kEtaminus, kEtaplus, kStepSizeMin, kStepSizeMax, kNumScalars };
  enum Flag : unsigned { kNumVariants = 1 };  // maximize is the only option

  static int64_t NumStates(unsigned) { return 2; }  // prev, step_size

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    // the etas are written into the ``sign`` tensor, of the param's dtype; the clamp's bounds are not rounded
    const C etaminus = St::Round(s[kEtaminus]), etaplus = St::Round(s[kEtaplus]);
    const C step_size_min = s[kStepSizeMin], step_size_max = s[kStepSizeMax];
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict prevs = Array<S>(leaf, 2);
    S* __restrict step_sizes = Array<S>(leaf, 3);
    for (size_t i = begin; i < end; ++i) {
      const C grad_in = St::Load(grads[i]);
      const C grad = NegatedIf(maximize, grad_in);
      const C product = St::Round(grad * St::Load(prevs[i]));  // grad.mul(prev): may round to 0
      // sign = product.sign(); sign[sign.gt(0)] = etaplus; sign[sign.lt(0)] = etaminus; sign[sign.eq(0)] = 1
      const C factor = Select(product > C(0), etaplus, Select(product < C(0), etaminus, C(1)));
      // step_size.mul_(sign).clamp_(step_size_min, step_size_max): the minimum first, NaN kept
      const C scaled = St::Round(St::Load(step_sizes[i]) * factor);
      const C at_least_min = Select(scaled < step_size_min, step_size_min, scaled);
      const C step_size = St::Round(Select(at_least_min > step_size_max, step_size_max, at_least_min));
      step_sizes[i] = St::Save(step_size);
      const C kept = Select(factor == etaminus, C(0), grad);  // grad[sign.eq(etaminus)] = 0
      prevs[i] = St::Save(kept);                               // prev.copy_(grad)
      // param.addcmul_(grad.sign(), step_size, value=-1): the product is exact
      params[i] = St::Save(St::Load(params[i]) - Sign(kept) * step_size);
    }
  }
};

ffi::Error RpropStep(ffi::AnyBuffer scalars, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t maximize,
    int64_t num_states, ffi::ThreadPool pool) {
  return Step<Rprop>(0u, maximize, scalars, args, rets, num_states, pool);
}

}  // namespace
}  // namespace functional_optim

XLA_FFI_DEFINE_HANDLER_SYMBOL(FunctionalOptimRprop, functional_optim::RpropStep,
                              functional_optim::KernelBinding().Ctx<xla::ffi::ThreadPool>());
