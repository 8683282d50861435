// Private fork-join helpers of the ML library: run a few tasks on short-lived threads, the caller
// taking a share, with exceptions rethrown on the caller in a fixed order (never the order in
// which threads happened to fail), so results and errors do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace trainflow::ml::detail {

// Runs task(i) for i in [0, n): task(0), and any task that gets no thread because the system
// refuses one, on the caller; the others each on its own thread. Returns when every task has
// returned. When tasks throw, rethrows on the caller the exception of the lowest task index; the
// other tasks still run to the end.
template <class Task>
void run_tasks(std::size_t n, const Task& task) {
  if (n <= 1) {
    if (n == 1) task(0);
    return;
  }
  std::vector<std::exception_ptr> failures(n);
  auto guarded = [&task, &failures](std::size_t i) {
    try {
      task(i);
    } catch (...) {
      failures[i] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  std::size_t i = 1;
  for (; i < n; ++i) {
    try {
      threads.emplace_back(guarded, i);
    } catch (const std::system_error&) {
      break;  // no more threads: the caller runs the rest
    }
  }
  guarded(0);
  for (; i < n; ++i) guarded(i);
  for (std::thread& thread : threads) thread.join();
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

// Calls fn(begin, end) once for each block [k * block, min((k + 1) * block, n_items)) of
// [0, n_items), on at most `threads` threads, the caller being one of them. Thread t gets a
// contiguous run of blocks and calls fn on them in increasing order, so blocks are never split
// and what fn computes for a block does not depend on `threads`. A thread whose fn throws stops
// calling fn; the exception of the lowest failing block is rethrown on the caller (each thread
// stops at its first failure, and threads own increasing runs of blocks, so that is also the
// first failing block of a sequential loop). Nothing runs when n_items is 0.
// REQUIRES: threads >= 1, block >= 1.
template <class Fn>
void parallel_blocks(std::size_t threads, std::size_t n_items, std::size_t block, const Fn& fn) {
  const std::size_t blocks = n_items / block + (n_items % block != 0 ? 1 : 0);
  const std::size_t tasks = std::min(threads, blocks);
  run_tasks(tasks, [&](std::size_t t) {
    const std::size_t first = blocks * t / tasks;
    const std::size_t last = blocks * (t + 1) / tasks;
    for (std::size_t k = first; k < last; ++k) {
      fn(k * block, std::min((k + 1) * block, n_items));
    }
  });
}

}  // namespace trainflow::ml::detail
