// Run CUDA kernel sources on the host, for tests on machines without a GPU.
//
// Include this header, then the .cu file, then launch with `emu::launch(kernel, grid, block,
// args...)`. Blocks run one after another; each block runs as `block` host threads (one per
// CUDA thread), so __syncthreads is a real barrier among them and races between threads of a
// block show up as they would on the device. __shared__ variables become function statics:
// shared by the threads of the running block (blocks never overlap). Provides threadIdx,
// blockIdx, blockDim, gridDim (x only), __syncthreads and atomicAdd/atomicMax/atomicMin on int.
// Warp intrinsics are not provided: kernels meant for this header reduce through shared memory.
#pragma once

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct uint3 { unsigned x = 0, y = 0, z = 0; };
struct dim3 { unsigned x = 1, y = 1, z = 1; };

inline thread_local uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace emu {
inline std::barrier<>* block_barrier = nullptr;

template <class Kernel, class... Args>
void launch(Kernel kernel, unsigned grid, unsigned block, Args... args) {
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx = uint3{b, 0, 0};
        std::barrier<> barrier(block);
        block_barrier = &barrier;
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t)
            threads.emplace_back([=] {
                threadIdx = uint3{t, 0, 0};
                kernel(args...);
            });
        for (auto& th : threads) th.join();
    }
    block_barrier = nullptr;
}
}  // namespace emu

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }

inline int atomicAdd(int* address, int value) {
    return std::atomic_ref<int>(*address).fetch_add(value);
}

inline int atomicMax(int* address, int value) {
    std::atomic_ref<int> ref(*address);
    int old = ref.load();
    while (old < value && !ref.compare_exchange_weak(old, value)) {}
    return old;
}

inline int atomicMin(int* address, int value) {
    std::atomic_ref<int> ref(*address);
    int old = ref.load();
    while (old > value && !ref.compare_exchange_weak(old, value)) {}
    return old;
}
