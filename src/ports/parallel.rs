//! Reading `/proc` on every core: most of what the `ports` commands cost is the kernel's work
//! behind one small read after another, which shares out well among threads.

/// The cores this process may run on, at most 8: how many threads share a scan of `/proc`.
/// (`available_parallelism` also reads the cgroup's CPU quota: four more files to open.)
pub fn cores() -> usize {
    rustix::thread::sched_getaffinity(None)
        .map_or(1, |set| set.count() as usize)
        .clamp(1, 8)
}

/// `f` of each of `items`, in their order, the items shared in runs among the cores. Fewer
/// than `FEW` items are done on this thread: starting a thread costs about what reading one
/// process's files does.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const FEW: usize = 8;
    let threads = cores();
    if items.len() < FEW || threads == 1 {
        return items.iter().map(f).collect();
    }
    let share = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_of_the_items_however_they_are_shared() {
        for n in [0, 1, 7, 8, 9, 100, 1001] {
            let items: Vec<u32> = (0..n).collect();
            let doubled = map(&items, |i| i * 2);
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn counts_at_least_one_core() {
        assert!((1..=8).contains(&cores()));
    }
}
