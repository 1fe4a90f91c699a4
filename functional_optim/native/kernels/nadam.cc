// NAdam: torch's _single_tensor_nadam, op by op (see functional_optim/algorithms/nadam.py).
#include "adam_family.h"

namespace functional_optim {
namespace {

struct NAdam : AdamFamily<NAdam> {
  // The scalars row, in this order (computed by the Python step, the mu products included):
  // AdamFamily's, then these.
  enum Scalar { kBiasCorrection2 = kNumShared, kEps, kGradCoef, kExpAvgCoef, kNumScalars };
  enum Flag : unsigned { kNumVariants = kDecoupled + 1 };  // the decay flags only

  static int64_t NumStates(unsigned) { return 2; }  // exp_avg, exp_avg_sq (mu_product is a scalar)

  // The rest of the step, after AdamFamily's decay and moments.
  template <class S, unsigned kFlags, class C>
  FO_ELEMENT static C Finish(const Scalars<C, kNumScalars>& s, const Element<C>& e, S*, size_t) {
    using St = Storage<S>;
    // exp_avg_sq.div(bias_correction2).sqrt(), then denom.add_(eps): three ops, each stored
    const C root = St::Round(std::sqrt(St::Round(e.exp_avg_sq / s[kBiasCorrection2])));
    const C denom = St::Round(root + St::Round(s[kEps]));
    // param.addcdiv_(grad, denom, value=grad_coef): (value * grad) / denom, added and stored
    const C half_way = St::Round(e.param + (s[kGradCoef] * e.grad) / denom);
    return half_way + (s[kExpAvgCoef] * e.exp_avg) / denom;  // param.addcdiv_(exp_avg, denom, value=exp_avg_coef)
  }
};

}  // namespace
}  // namespace functional_optim

FO_DEFINE_WEIGHT_DECAY_HANDLER(FunctionalOptimNAdam, functional_optim::NAdam);
