// Adam's family: Adam/AdamW, NAdam and RAdam, whose steps start alike (the grad's sign, the
// weight decay, the two moments). A member derives from AdamFamily<Member>, which has its loop,
// and gives the rest of the step from the element's moments:
//   template <class S, unsigned kFlags> static C Member::Finish(s, element, states, i)
// returns the new param (before its Save); `states` is the member's fourth array (Adam's
// max_exp_avg_sq), which only it touches. Its scalars row starts with the shared five.
#pragma once

#include "multi_tensor.h"

namespace functional_optim {

template <class Member>
struct AdamFamily {
  enum SharedScalar { kDecayFactor, kWeightDecay, kOneMinusBeta1, kBeta2, kOneMinusBeta2, kNumShared };
  // The `weight_decay` attribute is the decay flag itself: 0 none, 1 L2, 2 decoupled. A member's
  // own flags start at kFirstOwnFlag.
  enum DecayFlag : unsigned { kL2 = 1, kDecoupled = 2, kFirstOwnFlag = 4 };

  // One element after the start: the param (decayed if decoupled), the grad (signed, with L2),
  // the new moments (stored).
  template <class C>
  struct Element {
    C param, grad, exp_avg, exp_avg_sq;
  };

  template <class S, unsigned kFlags>
  [[gnu::always_inline]] static void Loop(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
    using St = Storage<S>;
    using C = typename St::Compute;
    const Scalars<C, Member::kNumScalars> s(leaf, call);
    const bool maximize = call.maximize;  // a local: the loop's stores cannot change it
    const C decay_factor = s[kDecayFactor], weight_decay = St::Round(s[kWeightDecay]);
    const C one_minus_beta1 = s[kOneMinusBeta1], beta2 = s[kBeta2], one_minus_beta2 = s[kOneMinusBeta2];
    S* __restrict params = Array<S>(leaf, 0);
    const S* __restrict grads = Array<S>(leaf, 1);
    S* __restrict exp_avgs = Array<S>(leaf, 2);
    S* __restrict exp_avg_sqs = Array<S>(leaf, 3);
    S* __restrict states = Array<S>(leaf, 4);  // the member's own state, if any
    for (size_t i = begin; i < end; ++i) {
      C grad = NegatedIf(maximize, St::Load(grads[i]));
      C param = St::Load(params[i]);
      if constexpr (kFlags & kDecoupled) param = St::Round(param * decay_factor);  // param.mul_(1 - lr * wd)
      if constexpr (kFlags & kL2) grad = St::Round(std::fma(param, weight_decay, grad));  // grad.add(param, alpha=wd)
      // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const C exp_avg = St::Round(Lerp(St::Load(exp_avgs[i]), grad, one_minus_beta1));
      const C exp_avg_sq =
          St::Round(std::fma(one_minus_beta2 * grad, grad, St::Round(St::Load(exp_avg_sqs[i]) * beta2)));
      exp_avgs[i] = St::Save(exp_avg);
      exp_avg_sqs[i] = St::Save(exp_avg_sq);
      const Element<C> element{param, grad, exp_avg, exp_avg_sq};
      params[i] = St::Save(Member::template Finish<S, kFlags>(s, element, states, i));
    }
  }
};

}  // namespace functional_optim
