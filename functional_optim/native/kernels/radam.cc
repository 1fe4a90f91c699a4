// RAdam: torch's _single_tensor_radam, op by op (see functional_optim/algorithms/radam.py).
#include "adam_family.h"

namespace functional_optim {
namespace {

struct RAdam : AdamFamily<RAdam> {
  // The scalars row, in this order (computed by the Python step: rectify is rho_t > 5 as 0/1,
  // rect the rectification term): AdamFamily's, then these.
  enum Scalar { kBiasCorrection1 = kNumShared, kBiasCorrection2Sqrt, kLr, kEps, kRectify, kRect, kNumScalars };
  enum Flag : unsigned { kNumVariants = kDecoupled + 1 };  // the decay flags only

  static int64_t NumStates(unsigned) { return 2; }  // exp_avg, exp_avg_sq

  // The rest of the step, after AdamFamily's decay and moments.
  template <class S, unsigned kFlags, class C>
  FO_ELEMENT static C Finish(const Scalars<C, kNumScalars>& s, const Element<C>& e, S*, size_t) {
    using St = Storage<S>;
    // bias_corrected_exp_avg = exp_avg / bias_correction1, then `* lr`: two ops, each stored
    const C momentum_step = St::Round(St::Round(e.exp_avg / s[kBiasCorrection1]) * s[kLr]);
    const C root = St::Round(St::Round(std::sqrt(e.exp_avg_sq)) + St::Round(s[kEps]));  // exp_avg_sq.sqrt().add_(eps)
    // bias_correction2**0.5 / root: torch's float / tensor is root.reciprocal() * float, two ops
    const C adaptive = St::Round(St::Round(C(1) / root) * s[kBiasCorrection2Sqrt]);
    const C rectified = St::Round(St::Round(momentum_step * adaptive) * s[kRect]);  // (... * adaptive) * rect
    // param.add_(update, alpha=-1.0): the rectified step if rho_t > 5 (one choice for the whole step)
    return e.param - Select(s[kRectify] != C(0), rectified, momentum_step);
  }
};

}  // namespace
}  // namespace functional_optim

FO_DEFINE_WEIGHT_DECAY_HANDLER(FunctionalOptimRAdam, functional_optim::RAdam);
