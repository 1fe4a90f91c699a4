// What this CPU runs: on x86-64 the loops are compiled for AVX2 + FMA and for AVX-512 (see
// multi_tensor.h). functional_optim.native asks before it registers the kernels, and takes the
// XLA path on a CPU without AVX2 and FMA.
#include "multi_tensor.h"

extern "C" int FunctionalOptimSupported() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 1;
#endif
}

// The instruction set the loops use: 2 for AVX-512, 1 for AVX2 + FMA, 0 for the compiler's
// default (not x86-64).
extern "C" int FunctionalOptimInstructionSet() {
#if defined(__x86_64__)
  return functional_optim::HasAvx512() ? 2 : 1;
#else
  return 0;
#endif
}
