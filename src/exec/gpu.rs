//! Local GPUs: `run-instances --gpus 0,1 --per-gpu K` hands each running program one GPU of the
//! list in `CUDA_VISIBLE_DEVICES`, at most K programs per GPU at once.

use std::sync::{Arc, Condvar, Mutex};

/// The GPUs of this machine that programs may use, and how many use each now.
#[derive(Debug)]
pub struct GpuPool {
    ids: Vec<String>,
    per_gpu: usize,
    used: Mutex<Vec<usize>>,
    freed: Condvar,
}

impl GpuPool {
    /// A pool of `ids` (as `CUDA_VISIBLE_DEVICES` names them), `per_gpu` programs each.
    pub fn new(ids: Vec<String>, per_gpu: usize) -> Arc<GpuPool> {
        let n = ids.len();
        Arc::new(GpuPool {
            ids,
            per_gpu: per_gpu.max(1),
            used: Mutex::new(vec![0; n]),
            freed: Condvar::new(),
        })
    }

    /// How many programs may run at once without oversubscribing a GPU.
    pub fn capacity(&self) -> usize {
        self.ids.len() * self.per_gpu
    }

    /// Takes the least used GPU, waiting while every GPU is full; released on drop.
    pub fn acquire(self: &Arc<GpuPool>) -> GpuSlot {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let best = (0..used.len()).min_by_key(|&i| used[i]);
            if let Some(i) = best.filter(|&i| used[i] < self.per_gpu) {
                used[i] += 1;
                return GpuSlot {
                    pool: self.clone(),
                    index: i,
                };
            }
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One program's share of a GPU.
#[derive(Debug)]
pub struct GpuSlot {
    pool: Arc<GpuPool>,
    index: usize,
}

impl GpuSlot {
    /// The value of `CUDA_VISIBLE_DEVICES` for the program.
    pub fn id(&self) -> &str {
        &self.pool.ids[self.index]
    }
}

impl Drop for GpuSlot {
    fn drop(&mut self) {
        let mut used = self.pool.used.lock().unwrap_or_else(|p| p.into_inner());
        used[self.index] -= 1;
        self.pool.freed.notify_one();
    }
}
