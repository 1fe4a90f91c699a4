// Element arithmetic for the multi-tensor kernels (multi_tensor.h): the storage types, torch's
// rounding to them, and torch's element ops where they are not plain C++ (maximum, lerp).
//
// A value is computed in its compute type (float32 for half precision, as torch's opmath) and,
// for a half-precision tensor, rounded to the storage type wherever torch writes a tensor
// (`Storage<S>::Round`): to nearest even, as torch rounds; a NaN stays a NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

// Everything an element loop calls is inlined into it: a call left in the loop (the compiler's
// inlining budget runs out in the larger half-precision loops) stops it vectorising.
#define FO_ELEMENT [[gnu::always_inline]] inline

namespace functional_optim {

// ---------------------------------------------------------------------------------------------
// Storage types and torch's rounding to them.

struct BFloat16 {
  uint16_t bits;
};

FO_ELEMENT float BitsToFloat(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

FO_ELEMENT uint32_t FloatToBits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

// `condition ? a : b` as bit masks, for the element loops: a conditional expression may stay a
// branch (one the compiler must unswitch or if-convert, which it gives up on in the longer
// loops), and a loop with a branch does not vectorise.
template <class C>
FO_ELEMENT C Select(bool condition, C a, C b) {
  using Bits = std::conditional_t<sizeof(C) == 8, uint64_t, uint32_t>;
  const Bits mask = Bits{0} - static_cast<Bits>(condition);
  Bits a_bits, b_bits;
  std::memcpy(&a_bits, &a, sizeof a);
  std::memcpy(&b_bits, &b, sizeof b);
  const Bits bits = (a_bits & mask) | (b_bits & ~mask);
  C result;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

// -x when `negate` (torch's maximize), by flipping the sign bit: no select in the loop.
template <class C>
FO_ELEMENT C NegatedIf(bool negate, C x) {
  using Bits = std::conditional_t<sizeof(C) == 8, uint64_t, uint32_t>;
  Bits bits;
  std::memcpy(&bits, &x, sizeof x);
  bits ^= static_cast<Bits>(negate) << (8 * sizeof(C) - 1);
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// How a storage type S is read into and written from its compute type.
template <class S>
struct Storage {
  using Compute = S;
  FO_ELEMENT static Compute Load(S x) { return x; }
  FO_ELEMENT static S Save(Compute x) { return x; }
  FO_ELEMENT static Compute Round(Compute x) { return x; }  // torch computes in S itself: no rounding
};

template <>
struct Storage<BFloat16> {
  using Compute = float;
  FO_ELEMENT static float Load(BFloat16 x) { return BitsToFloat(uint32_t{x.bits} << 16); }
  FO_ELEMENT static BFloat16 Save(float x) { return BFloat16{static_cast<uint16_t>(RoundedBits(x) >> 16)}; }
  FO_ELEMENT static float Round(float x) { return BitsToFloat(RoundedBits(x)); }  // without packing to 16 bits

  // x rounded to nearest even at bfloat16's precision, as float bits whose low 16 are zero; a
  // NaN stays a (quiet) NaN of its sign.
  FO_ELEMENT static uint32_t RoundedBits(float x) {
    const uint32_t bits = FloatToBits(x);
    return Select(x != x, bits | 0x400000u, bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  }
};

struct Float16 {
  uint16_t bits;
};

// IEEE binary16, converted with integer operations (which vectorise; the compiler's own
// conversions are library calls without AVX-512 FP16): round to nearest even, subnormals kept.
template <>
struct Storage<Float16> {
  using Compute = float;
  FO_ELEMENT static float Load(Float16 x) {
    const uint32_t sign = uint32_t{x.bits & 0x8000u} << 16, exponent = (x.bits >> 10) & 0x1fu, mantissa = x.bits & 0x3ffu;
    const uint32_t normal = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    const uint32_t special = sign | 0x7f800000u | (mantissa << 13);  // infinity, NaN
    const uint32_t subnormal = sign | FloatToBits(static_cast<float>(mantissa) * 0x1p-24f);  // exact
    return BitsToFloat(Select(exponent == 0, subnormal, Select(exponent == 31, special, normal)));
  }
  FO_ELEMENT static Float16 Save(float x) {
    const uint32_t bits = FloatToBits(x), sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
    // Subnormal results: adding 0.5 aligns the 10 kept bits at the bottom, rounded to nearest even.
    const uint32_t subnormal = FloatToBits(BitsToFloat(magnitude) + 0.5f) - FloatToBits(0.5f);
    // Normal results: rebias the exponent and round the 13 dropped bits to nearest even.
    const uint32_t normal = (magnitude - (112u << 23) + 0xfffu + ((magnitude >> 13) & 1u)) >> 13;
    const uint32_t overflow = Select(magnitude > 0x7f800000u, 0x7e00u, 0x7c00u);  // NaN, else infinity
    const uint32_t result = Select(magnitude >= (143u << 23), overflow, Select(magnitude < (113u << 23), subnormal, normal));
    return Float16{static_cast<uint16_t>(sign | result)};
  }
  FO_ELEMENT static float Round(float x) { return Load(Save(x)); }
};

// torch.maximum: NaN if either is NaN.
template <class C>
FO_ELEMENT C Maximum(C a, C b) {
  return Select(a != a || b != b, a + b, Select(a > b, a, b));
}

// torch's CPU lerp: start + w (end - start) for |w| < 0.5, else end - (end - start)(1 - w),
// as one fused multiply-add whose base and coefficient are chosen by |w| < 0.5.
template <class C>
FO_ELEMENT C Lerp(C start, C end, C weight) {
  const bool small = std::fabs(weight) < C(0.5);
  return std::fma(Select(small, weight, weight - C(1)), end - start, Select(small, start, end));
}

}  // namespace functional_optim
