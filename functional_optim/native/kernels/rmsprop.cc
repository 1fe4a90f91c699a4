// RMSprop: torch's _single_tensor_rmsprop, op by op (see functional_optim/algorithms/rmsprop.py).
#include "multi_tensor.h"

namespace functional_optim {
namespace {

struct RMSprop {
  // The scalars row, in this order (computed by the Python step).
  enum Scalar { kLr, kWeightDecay, kAlpha, kOneMinusAlpha, kEps, kMomentum, kUseMomentum, kNumScalars };
  enum Flag : unsigned { kDecay = 1, kHasMomentum = 2, kCentered = 4, kNumVariants = 8 };

  // square_avg[, momentum_buffer][, grad_avg]
  static int64_t NumStates(unsigned flags) { return 1 + (flags & kHasMomentum ? 1 : 0) + (flags & kCentered ? 1 : 0u); }

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    const C lr = s[kLr], minus_lr_alpha = -St::Round(s[kLr]), weight_decay = St::Round(s[kWeightDecay]);
    const C alpha = s[kAlpha], one_minus_alpha = s[kOneMinusAlpha], eps = St::Round(s[kEps]);
    const C momentum = s[kMomentum];
    const bool use_momentum = s[kUseMomentum] != C(0);  // a step with momentum 0 skips the buffer
    constexpr int kBuffer = kFlags & kHasMomentum ? 1 : 0, kGradAvg = kBuffer + 1;
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict square_avgs = Array<S>(leaf, 2);
    S* __restrict momentum_buffers = Array<S>(leaf, 2 + kBuffer);
    S* __restrict grad_avgs = Array<S>(leaf, 2 + kGradAvg);
    for (size_t i = begin; i < end; ++i) {
      const C param = St::Load(params[i]);
      const C grad_in = St::Load(grads[i]);
      C grad = NegatedIf(maximize, grad_in);
      if constexpr (kFlags & kDecay) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
      const C square_avg =
          St::Round(std::fma(one_minus_alpha * grad, grad, St::Round(St::Load(square_avgs[i]) * alpha)));
      square_avgs[i] = St::Save(square_avg);
      C second_moment = square_avg;
      if constexpr (kFlags & kCentered) {
        const C grad_avg = St::Round(Lerp(St::Load(grad_avgs[i]), grad, one_minus_alpha));  // grad_avg.lerp_(grad, 1 - alpha)
        grad_avgs[i] = St::Save(grad_avg);
        second_moment = St::Round(std::fma(-grad_avg, grad_avg, square_avg));  // square_avg.addcmul(ga, ga, value=-1)
      }
      const C avg = St::Round(St::Round(std::sqrt(second_moment)) + eps);  // .sqrt().add_(eps)
      const C plain = param - (lr * grad) / avg;                             // param.addcdiv_(grad, avg, value=-lr)
      if constexpr (kFlags & kHasMomentum) {
        // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
        const C old_buffer = St::Load(momentum_buffers[i]);
        const C stepped = St::Round(St::Round(old_buffer * momentum) + grad / avg);
        const C buffer = Select(use_momentum, stepped, old_buffer);
        momentum_buffers[i] = St::Save(buffer);
        params[i] = St::Save(Select(use_momentum, std::fma(buffer, minus_lr_alpha, param), plain));
      } else {
        params[i] = St::Save(plain);
      }
    }
  }
};

ffi::Error RMSpropStep(ffi::AnyBuffer scalars, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t maximize,
    int64_t num_states, int64_t weight_decay, int64_t has_momentum, int64_t centered, ffi::ThreadPool pool) {
  const unsigned flags = (weight_decay ? RMSprop::kDecay : 0u) |
                         (has_momentum ? RMSprop::kHasMomentum : 0u) | (centered ? RMSprop::kCentered : 0u);
  return Step<RMSprop>(flags, maximize, scalars, args, rets, num_states, pool);
}

}  // namespace
}  // namespace functional_optim

XLA_FFI_DEFINE_HANDLER_SYMBOL(FunctionalOptimRMSprop, functional_optim::RMSpropStep,
                              functional_optim::KernelBinding()
                                  .Attr<int64_t>("weight_decay")
                                  .Attr<int64_t>("has_momentum")
                                  .Attr<int64_t>("centered")
                                  .Ctx<xla::ffi::ThreadPool>());
