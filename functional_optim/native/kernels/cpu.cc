// Whether this CPU can run the kernels: on x86-64 they are compiled for AVX2 and FMA (see
// multi_tensor.h). functional_optim.native asks before it registers them, and takes the XLA path
// on a CPU without.
extern "C" int FunctionalOptimSupported() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 1;
#endif
}
