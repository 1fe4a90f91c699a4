// Multi-tensor optimizer steps as XLA FFI handlers: the machinery every algorithm shares.
//
// One custom call updates every leaf of a parameter tree in place. Its operands are a scalars
// array of shape (rows, K) (the step's scalars, computed in Python: one row for every leaf, or
// one row per leaf), then, leaf by leaf, the param, the grad and the algorithm's state arrays;
// its results are, leaf by leaf, the new param and the new state arrays, each aliased to its
// operand. A leaf's arrays share one dtype (float64, float32, bfloat16 or float16) and one
// element count; leaves may differ in both. Everything is checked before anything is written.
//
// The arithmetic is torch's for-loop step op by op: each op is done in the compute type
// (float32 for half precision, as torch's opmath) and, for a half-precision tensor, its result
// is rounded to the storage type wherever torch writes a tensor (`Store`). Multiply-adds are
// fused exactly where torch's CPU kernels fuse them (add with alpha, addcmul, lerp), with
// std::fma; everything else rounds op by op. Built with -ffp-contract=off and no fast-math.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "elements.h"
#include "xla/ffi/api/ffi.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace functional_optim {

namespace ffi = xla::ffi;

// ---------------------------------------------------------------------------------------------
// A call's leaves, decoded and checked once.

constexpr int kMaxArrays = 6;  // param, grad and up to four state arrays

// One leaf: `data` holds param, grad, state..., each param and state array updated in place
// (the result buffer, which XLA aliases to the operand), the grad read only. Distinct arrays
// never overlap, so the loops take them as __restrict pointers.
struct Leaf {
  XLA_FFI_DataType dtype;
  size_t size;
  void* data[kMaxArrays];
  const void* scalars;  // this leaf's row of the scalars array
};

// A leaf's array `index` as a typed pointer for its loop.
template <class S>
FO_ELEMENT S* Array(const Leaf& leaf, int index) {
  return static_cast<S*>(leaf.data[index]);
}

// A chunk of one leaf's elements: the unit of work handed to a thread.
struct Chunk {
  uint32_t leaf;
  size_t begin, end;
};

inline size_t ElementCount(const XLA_FFI_Buffer* buffer) {
  size_t count = 1;
  for (int64_t i = 0; i < buffer->rank; ++i) count *= static_cast<size_t>(buffer->dims[i]);
  return count;
}

// The remaining operands and results as raw buffers: one checked pass over the call frame
// instead of a decoded (and diagnosed) buffer per get().
class RawArgs : public ffi::RemainingArgs {
 public:
  explicit RawArgs(const ffi::RemainingArgs& args) : ffi::RemainingArgs(args) {}
  const XLA_FFI_Buffer* buffer(size_t i) const {
    return reinterpret_cast<const XLA_FFI_Buffer*>(args()->args[offset() + i]);
  }
  bool is_buffer(size_t i) const { return args()->types[offset() + i] == XLA_FFI_ArgType_BUFFER; }
};

class RawRets : public ffi::RemainingRets {
 public:
  explicit RawRets(const ffi::RemainingRets& rets) : ffi::RemainingRets(rets) {}
  XLA_FFI_Buffer* buffer(size_t i) const { return reinterpret_cast<XLA_FFI_Buffer*>(rets()->rets[offset() + i]); }
  bool is_buffer(size_t i) const { return rets()->types[offset() + i] == XLA_FFI_RetType_BUFFER; }
};

inline size_t ByteWidth(XLA_FFI_DataType dtype) {
  return dtype == XLA_FFI_DataType_F64 ? 8 : dtype == XLA_FFI_DataType_F32 ? 4 : 2;
}

inline bool IsFloat(XLA_FFI_DataType dtype) {
  return dtype == XLA_FFI_DataType_F64 || dtype == XLA_FFI_DataType_F32 || dtype == XLA_FFI_DataType_BF16 ||
         dtype == XLA_FFI_DataType_F16;
}

// Checks the operands and results against the layout above and returns the leaves. Any
// mismatch is an error naming the leaf, before a single element is written.
inline ffi::Error DecodeLeaves(const ffi::AnyBuffer& scalars, const ffi::RemainingArgs& args_in,
                               const ffi::RemainingRets& rets_in, int64_t num_states, std::vector<Leaf>& leaves) {
  const RawArgs args(args_in);
  const RawRets rets(rets_in);
  if (num_states < 0 || num_states + 2 > kMaxArrays) return ffi::Error::InvalidArgument("bad num_states");
  const size_t per_leaf_in = static_cast<size_t>(num_states) + 2, per_leaf_out = per_leaf_in - 1;
  if (args.size() % per_leaf_in != 0) return ffi::Error::InvalidArgument("operand count is not a whole number of leaves");
  const size_t num_leaves = args.size() / per_leaf_in;
  if (rets.size() != num_leaves * per_leaf_out) return ffi::Error::InvalidArgument("result count does not match the operands");

  const auto scalar_dims = scalars.dimensions();
  if (scalar_dims.size() != 2 || (scalars.element_type() != ffi::DataType::F32 &&
                                  scalars.element_type() != ffi::DataType::F64)) {
    return ffi::Error::InvalidArgument("scalars must be a float32 or float64 array of shape (rows, K)");
  }
  const size_t rows = static_cast<size_t>(scalar_dims[0]), width = static_cast<size_t>(scalar_dims[1]);
  if (rows != 1 && rows != num_leaves) return ffi::Error::InvalidArgument("scalars must have 1 row or one per leaf");
  const size_t row_bytes = width * (scalars.element_type() == ffi::DataType::F64 ? 8 : 4);

  leaves.resize(num_leaves);
  for (size_t l = 0; l < num_leaves; ++l) {
    Leaf& leaf = leaves[l];
    for (size_t a = 0; a < per_leaf_in; ++a) {
      if (!args.is_buffer(l * per_leaf_in + a)) return ffi::Error::InvalidArgument("an operand is not a buffer");
    }
    for (size_t r = 0; r < per_leaf_out; ++r) {
      if (!rets.is_buffer(l * per_leaf_out + r)) return ffi::Error::InvalidArgument("a result is not a buffer");
    }
    const XLA_FFI_Buffer* param = args.buffer(l * per_leaf_in);
    leaf.dtype = param->dtype;
    leaf.size = ElementCount(param);
    if (!IsFloat(leaf.dtype)) {
      return ffi::Error::InvalidArgument("leaf " + std::to_string(l) + ": unsupported dtype");
    }
    for (size_t a = 0; a < per_leaf_in; ++a) {
      const XLA_FFI_Buffer* buffer = args.buffer(l * per_leaf_in + a);
      if (buffer->dtype != leaf.dtype || ElementCount(buffer) != leaf.size) {
        return ffi::Error::InvalidArgument("leaf " + std::to_string(l) + ": operand " + std::to_string(a) +
                                           " differs from its param in dtype or size");
      }
      leaf.data[a] = buffer->data;
    }
    for (size_t r = 0; r < per_leaf_out; ++r) {
      XLA_FFI_Buffer* buffer = rets.buffer(l * per_leaf_out + r);
      if (buffer->dtype != leaf.dtype || ElementCount(buffer) != leaf.size) {
        return ffi::Error::InvalidArgument("leaf " + std::to_string(l) + ": result " + std::to_string(r) +
                                           " differs from its param in dtype or size");
      }
    }
    leaf.scalars = static_cast<const char*>(scalars.untyped_data()) + (rows == 1 ? 0 : l * row_bytes);
  }
  // Every check passed: point each updated array at its result, which XLA aliases to the
  // operand; should a result ever be a separate buffer, it starts as a copy of the operand.
  for (size_t l = 0; l < num_leaves; ++l) {
    Leaf& leaf = leaves[l];
    for (size_t r = 0; r < per_leaf_out; ++r) {
      const size_t a = r == 0 ? 0 : r + 1;  // results: param, states; operands: param, grad, states
      void* result = rets.buffer(l * per_leaf_out + r)->data;
      if (result != leaf.data[a]) std::memcpy(result, leaf.data[a], leaf.size * ByteWidth(leaf.dtype));
      leaf.data[a] = result;
    }
  }
  return ffi::Error::Success();
}

// What a call's loops need beyond their leaf and their compile-time options.
struct CallOptions {
  bool scalars_f64;  // the scalars array is float64 (else float32)
  bool maximize;     // negate the grads
};

// A leaf's scalars in its compute type C (the cast torch makes when a Python number meets a tensor).
template <class C, int K>
struct Scalars {
  C value[K];
  FO_ELEMENT Scalars(const Leaf& leaf, const CallOptions& call) {
    for (int k = 0; k < K; ++k) {
      value[k] = call.scalars_f64 ? static_cast<C>(static_cast<const double*>(leaf.scalars)[k])
                        : static_cast<C>(static_cast<const float*>(leaf.scalars)[k]);
    }
  }
  FO_ELEMENT C operator[](int k) const { return value[k]; }
};

// ---------------------------------------------------------------------------------------------
// Running the chunks: on the calling thread for small trees, else shared with XLA's pool.

constexpr size_t kChunkElements = size_t{1} << 16;
constexpr size_t kParallelElements = size_t{1} << 18;  // below this, threads cost more than they save

// One leaf's loop over elements [begin, end), for its dtype and the call's options.
using ChunkFn = void (*)(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end);

// XLA runs its CPU code with the flush-to-zero and denormals-are-zero modes on, so a subnormal
// would be read and written as 0; torch's CPU step keeps subnormals. A loop runs under this
// guard, which clears both modes on its thread and gives the caller's back.
class KeepSubnormals {
 public:
#if defined(__x86_64__)
  KeepSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ & ~kFlushModes); }
  ~KeepSubnormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFlushModes = 0x8040;  // MXCSR's FTZ (bit 15) and DAZ (bit 6)
  unsigned saved_;
#endif
};

struct Work {
  std::vector<Leaf> leaves;
  std::vector<ChunkFn> fns;  // per leaf
  CallOptions call;
  std::vector<Chunk> chunks;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};

  void Drain() {
    for (size_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks.size();) {
      const Chunk& chunk = chunks[c];
      fns[chunk.leaf](leaves[chunk.leaf], call, chunk.begin, chunk.end);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

inline void Run(std::vector<Leaf> leaves, std::vector<ChunkFn> fns, CallOptions call, ffi::ThreadPool& pool) {
  size_t total = 0;
  for (const Leaf& leaf : leaves) total += leaf.size;
  const int64_t threads = total < kParallelElements ? 1 : pool.num_threads();
  KeepSubnormals keep_subnormals;
  if (threads <= 1) {
    for (size_t l = 0; l < leaves.size(); ++l) fns[l](leaves[l], call, 0, leaves[l].size);
    return;
  }
  auto work = std::make_shared<Work>();
  for (uint32_t l = 0; l < leaves.size(); ++l) {
    for (size_t begin = 0; begin < leaves[l].size; begin += kChunkElements) {
      work->chunks.push_back({l, begin, std::min(leaves[l].size, begin + kChunkElements)});
    }
  }
  work->leaves = std::move(leaves);
  work->fns = std::move(fns);
  work->call = call;
  // Helpers that start after the chunks are gone find nothing to do; they only hold `work`.
  for (int64_t t = 1; t < threads; ++t) {
    pool.Schedule([work] {
      KeepSubnormals keep_subnormals;
      work->Drain();
    });
  }
  work->Drain();
  while (work->done.load(std::memory_order_acquire) < work->chunks.size()) std::this_thread::yield();
}

// ---------------------------------------------------------------------------------------------
// Instantiations. An algorithm `A` has `A::Loop<S, kFlags>(leaf, call, begin, end)`, its
// element loop for storage type S and options kFlags (a bitmask fixed at compile time, so that
// every loop is branch-free and vectorises), `A::kNumVariants` such bitmasks, `A::kNumScalars`
// and `A::NumStates(flags)`. On x86-64 every loop is compiled twice, for AVX2 + FMA (8 floats a
// vector) and for AVX-512 (16), and a call takes the widest its CPU runs: the arithmetic is the
// same IEEE operations either way (hardware fused multiply-adds where std::fma is written), and
// the half-precision loops, which spend most of their time rounding, run ~1.5x faster on
// AVX-512. A CPU without AVX2 and FMA is refused at load time (FunctionalOptimSupported), and the
// XLA path runs there.

#if defined(__x86_64__)
#define FO_AVX2 [[gnu::target("avx2,fma")]]
#define FO_AVX512 [[gnu::target("avx512f,avx512bw,avx512vl,avx512dq,fma,prefer-vector-width=512")]]

// Whether calls take the AVX-512 loops: the CPU has them and FUNCTIONAL_OPTIM_AVX512 is not "0"
// (a switch for tests and for CPUs that slow down running them). Decided once, at first use.
inline bool HasAvx512() {
  static const bool has = [] {
    const char* setting = std::getenv("FUNCTIONAL_OPTIM_AVX512");
    return !(setting != nullptr && std::string(setting) == "0") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
  }();
  return has;
}
#else
#define FO_AVX2
#define FO_AVX512
inline bool HasAvx512() { return false; }
#endif

template <class A, class S, unsigned kFlags>
FO_AVX2 void Instance(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
  A::template Loop<S, kFlags>(leaf, call, begin, end);
}

template <class A, class S, unsigned kFlags>
FO_AVX512 void InstanceAvx512(const Leaf& leaf, const CallOptions& call, size_t begin, size_t end) {
  A::template Loop<S, kFlags>(leaf, call, begin, end);
}

template <class A, class S, unsigned... kFlags>
ChunkFn ForFlags(unsigned flags, std::integer_sequence<unsigned, kFlags...>) {
  static const ChunkFn avx2[] = {&Instance<A, S, kFlags>...};
#if defined(__x86_64__)
  static const ChunkFn avx512[] = {&InstanceAvx512<A, S, kFlags>...};
  if (HasAvx512()) return avx512[flags];
#endif
  return avx2[flags];
}

template <class A>
ChunkFn ForLeaf(XLA_FFI_DataType dtype, unsigned flags) {
  using Variants = std::make_integer_sequence<unsigned, A::kNumVariants>;
  switch (dtype) {
    case XLA_FFI_DataType_F64:
      return ForFlags<A, double>(flags, Variants{});
    case XLA_FFI_DataType_F32:
      return ForFlags<A, float>(flags, Variants{});
    case XLA_FFI_DataType_BF16:
      return ForFlags<A, BFloat16>(flags, Variants{});
    default:
      return ForFlags<A, Float16>(flags, Variants{});
  }
}

// The binding every kernel's handler starts with: the scalars, the leaves' operands and results,
// then the attributes `maximize` and `num_states`; each kernel appends its own attributes and
// the thread pool. The handler's parameters follow this order.
inline auto KernelBinding() {
  return ffi::Ffi::Bind()
      .Arg<ffi::AnyBuffer>()
      .RemainingArgs()
      .RemainingRets()
      .Attr<int64_t>("maximize")
      .Attr<int64_t>("num_states");
}

// Decodes, checks and runs one call of algorithm `A` with options `flags` (and `maximize`).
template <class A>
ffi::Error Step(unsigned flags, int64_t maximize, ffi::AnyBuffer scalars, ffi::RemainingArgs args,
                ffi::RemainingRets rets, int64_t num_states, ffi::ThreadPool pool) {
  if (flags >= A::kNumVariants) return ffi::Error::InvalidArgument("unknown options");
  if (num_states != A::NumStates(flags)) return ffi::Error::InvalidArgument("state count does not match the options");
  std::vector<Leaf> leaves;
  if (ffi::Error error = DecodeLeaves(scalars, args, rets, num_states, leaves); error.failure()) return error;
  if (scalars.dimensions()[1] != A::kNumScalars) return ffi::Error::InvalidArgument("wrong number of scalars");
  std::vector<ChunkFn> fns;
  fns.reserve(leaves.size());
  for (const Leaf& leaf : leaves) fns.push_back(ForLeaf<A>(leaf.dtype, flags));
  Run(std::move(leaves), std::move(fns), CallOptions{scalars.element_type() == ffi::DataType::F64, maximize != 0}, pool);
  return ffi::Error::Success();
}

// The handler of a kernel whose one attribute beyond KernelBinding's is `weight_decay`, which is
// its loop flags (A::kNumVariants bounds it): Adagrad, Adamax, NAdam, RAdam.
template <class A>
ffi::Error WeightDecayStep(ffi::AnyBuffer scalars, ffi::RemainingArgs args, ffi::RemainingRets rets,
                           int64_t maximize, int64_t num_states, int64_t weight_decay, ffi::ThreadPool pool) {
  if (weight_decay < 0 || weight_decay >= int64_t{A::kNumVariants}) return ffi::Error::InvalidArgument("unknown weight_decay");
  return Step<A>(static_cast<unsigned>(weight_decay), maximize, scalars, args, rets, num_states, pool);
}

}  // namespace functional_optim

// Defines the exported handler `symbol` of such a kernel, for algorithm `A`.
#define FO_DEFINE_WEIGHT_DECAY_HANDLER(symbol, A)                                                         \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(symbol, functional_optim::WeightDecayStep<A>,                            \
                                functional_optim::KernelBinding()                                          \
                                    .Attr<int64_t>("weight_decay")                                         \
                                    .Ctx<xla::ffi::ThreadPool>())
