// SGD: torch's _single_tensor_sgd, op by op (see functional_optim/algorithms/sgd.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct SGD {
  // The scalars row, in this order (computed by the Python step).
  enum Scalar { kLr, kWeightDecay, kMomentum, kOneMinusDampening, kFirstStep, kNumScalars };
  enum Flag : unsigned { kDecay = 1, kHasMomentum = 2, kNesterov = 4, kNumVariants = 8 };

  static int64_t NumStates(unsigned flags) { return flags & kHasMomentum ? 1 : 0; }  // momentum_buffer

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    // torch rounds an ``alpha`` to a half-precision tensor's dtype before it multiplies
    const C minus_lr = -St::Round(s[kLr]), weight_decay = St::Round(s[kWeightDecay]);
    const C momentum = s[kMomentum], momentum_alpha = St::Round(s[kMomentum]);
    const C one_minus_dampening = St::Round(s[kOneMinusDampening]);
    const bool first_step = s[kFirstStep] != C(0);
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict momentum_buffers = Array<S>(leaf, 2);
    for (size_t i = begin; i < end; ++i) {
      const C param = St::Load(params[i]);
      const C grad_in = St::Load(grads[i]);
      C grad = NegatedIf(maximize, grad_in);
      if constexpr (kFlags & kDecay) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      if constexpr (kFlags & kHasMomentum) {
        // the first step's buffer is a copy of the grad; then buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        const C stepped = St::Round(std::fma(grad, one_minus_dampening, St::Round(St::Load(momentum_buffers[i]) * momentum)));
        const C buffer = Select(first_step, grad, stepped);
        momentum_buffers[i] = St::Save(buffer);
        if constexpr (kFlags & kNesterov) {
          grad = St::Round(std::fma(buffer, momentum_alpha, grad));  // grad.add(buf, alpha=momentum)
        } else {
          grad = buffer;
        }
      }
      params[i] = St::Save(std::fma(grad, minus_lr, param));  // param.add_(grad, alpha=-lr)
    }
  }
};

ffi::Error SGDStep(ffi::AnyBuffer scalars, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t maximize,
    int64_t num_states, int64_t weight_decay, int64_t momentum, int64_t nesterov, ffi::ThreadPool pool) {
  const unsigned flags = (weight_decay ? SGD::kDecay : 0u) |
                         (momentum ? SGD::kHasMomentum : 0u) | (nesterov ? SGD::kNesterov : 0u);
  return Step<SGD>(flags, maximize, scalars, args, rets, num_states, pool);
}

}  // namespace
}  // namespace functional_optim

XLA_FFI_DEFINE_HANDLER_SYMBOL(FunctionalOptimSGD, functional_optim::SGDStep,
                              functional_optim::KernelBinding()
                                  .Attr<int64_t>("weight_decay")
                                  .Attr<int64_t>("momentum")
                                  .Attr<int64_t>("nesterov")
                                  .Ctx<xla::ffi::ThreadPool>());
