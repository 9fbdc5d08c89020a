//! Resource bounds derived from the machine: how much memory it has, and whether a configured
//! size fits in it. Inputs are checked against these before any work starts, so an oversized
//! config is an error naming its field instead of an allocation abort or a machine brought to
//! its knees halfway through a run.

/// Where the machine's memory cannot be read, sizes are checked against this (64 GiB).
const FALLBACK_MEMORY: u64 = 64 << 30;

/// The machine's physical memory in bytes.
pub(crate) fn machine_memory() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions; it returns -1 for a name it does not know.
        let (pages, page) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && page > 0 {
            return (pages as u64).saturating_mul(page as u64);
        }
    }
    FALLBACK_MEMORY
}

/// Bytes as GiB with two decimals, for messages.
pub(crate) fn gib(bytes: f64) -> String {
    format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
}

/// `Ok` when `bytes` (an estimate of what `what` needs) fits in the machine's memory; else a
/// message saying what needs how much and what the machine has.
pub(crate) fn fits_in_memory(what: &str, bytes: f64) -> Result<(), String> {
    let have = machine_memory() as f64;
    if bytes.is_finite() && bytes <= have {
        Ok(())
    } else {
        Err(format!(
            "{what} needs about {} but this machine has {} of memory",
            gib(bytes),
            gib(have)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_has_some_memory_and_absurd_sizes_do_not_fit() {
        assert!(machine_memory() >= 1 << 20);
        assert!(fits_in_memory("a byte", 1.0).is_ok());
        let e = fits_in_memory("the weights", 1e30).unwrap_err();
        assert!(e.contains("the weights") && e.contains("GiB"), "{e}");
        assert!(fits_in_memory("nothing sane", f64::NAN).is_err());
    }
}
