//! `swill::server::limit_panic_output` (issue #11, item 7): the process's panic hook prints at
//! most N panics a second. Its own test binary: the panic hook is global to the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[test]
fn limit_panic_output_bounds_what_the_hook_prints() {
    static PRINTED: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        PRINTED.fetch_add(1, Ordering::SeqCst);
    }));
    swill::server::limit_panic_output(3);
    let start = Instant::now();
    for _ in 0..100 {
        assert!(std::panic::catch_unwind(|| panic!("again")).is_err());
    }
    let windows = start.elapsed().as_secs() as usize + 1;
    let printed = PRINTED.load(Ordering::SeqCst);
    std::panic::set_hook(previous);
    assert!(printed >= 1);
    assert!(
        printed <= 3 * windows,
        "{printed} printed in {windows} window(s)"
    );
}
