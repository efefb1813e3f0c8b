//! The standard Prometheus process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from `/proc/self` on each scrape, with the
//! names and meanings of the Prometheus client libraries' process collectors. On a system without
//! `/proc` nothing is exported.

use std::fmt::Error;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Clock ticks per second of `/proc`'s times (`USER_HZ`): 100 on every Linux architecture the
/// image is built for (x86_64, aarch64).
const USER_HZ: f64 = 100.0;

/// One reading of the process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit of open file descriptors.
    pub max_fds: Option<f64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Read `/proc/self` (and `/proc/stat` for the boot time).
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let limits = std::fs::read_to_string("/proc/self/limits").ok();
        let boot = std::fs::read_to_string("/proc/stat").ok();
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        Self::parse(
            stat.as_deref(),
            status.as_deref(),
            limits.as_deref(),
            boot.as_deref(),
            open_fds,
        )
    }

    /// The reading from the texts of `/proc/self/stat`, `/proc/self/status`, `/proc/self/limits`
    /// and `/proc/stat`; a text that is missing or does not parse leaves its figures out.
    pub fn parse(
        stat: Option<&str>,
        status: Option<&str>,
        limits: Option<&str>,
        boot: Option<&str>,
        open_fds: Option<f64>,
    ) -> Self {
        // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
        let fields: Vec<&str> = stat
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field n of the man page (1-based) is fields[n - 3].
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let cpu_seconds = match (field(14), field(15)) {
            (Some(u), Some(s)) => Some((u + s) / USER_HZ),
            _ => None,
        };
        let kib = |key: &str| {
            status?
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|v| v * 1024.0)
        };
        let max_fds = limits.and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        });
        let btime = boot.and_then(|b| {
            b.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        let start_time_seconds = match (btime, field(22)) {
            (Some(b), Some(ticks)) => Some(b + ticks / USER_HZ),
            _ => None,
        };
        ProcessStats {
            cpu_seconds,
            resident_bytes: kib("VmRSS:"),
            virtual_bytes: kib("VmSize:"),
            open_fds,
            max_fds,
            start_time_seconds,
        }
    }
}

/// The collector: reads [`ProcessStats`] on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let s = ProcessStats::read();
        if let Some(v) = s.cpu_seconds {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                c.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                s.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                s.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
            }
        }
        Ok(())
    }
}

/// Register the process metrics (unprefixed, the standard names).
pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (route53 (fail)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 123400 200000000 5000 18446744073709551615";
    const STATUS: &str = "Name:\troute53\nVmSize:\t  195312 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n";
    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1048576              1048576              files\n";
    const BOOT: &str = "cpu  1 2 3\nbtime 1790000000\nprocesses 10\n";

    #[test]
    fn proc_texts_become_the_standard_figures() {
        let s = ProcessStats::parse(
            Some(STAT),
            Some(STATUS),
            Some(LIMITS),
            Some(BOOT),
            Some(12.0),
        );
        assert_eq!(s.cpu_seconds, Some(3.0), "(250 + 50) ticks at 100 Hz");
        assert_eq!(s.resident_bytes, Some(40960.0 * 1024.0));
        assert_eq!(s.virtual_bytes, Some(195312.0 * 1024.0));
        assert_eq!(s.open_fds, Some(12.0));
        assert_eq!(s.max_fds, Some(1048576.0));
        assert_eq!(s.start_time_seconds, Some(1790000000.0 + 1234.0));
    }

    #[test]
    fn missing_texts_leave_their_figures_out() {
        assert_eq!(
            ProcessStats::parse(None, None, None, None, None),
            ProcessStats::default()
        );
        let s = ProcessStats::parse(Some("garbage"), Some("VmRSS: x kB"), None, None, None);
        assert_eq!(s, ProcessStats::default());
    }

    #[test]
    fn this_process_is_encoded_with_the_standard_names() {
        let mut reg = Registry::default();
        register(&mut reg);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        for needle in [
            "# TYPE process_cpu_seconds counter",
            "process_cpu_seconds_total ",
            "# TYPE process_resident_memory_bytes gauge",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
            "process_virtual_memory_bytes ",
        ] {
            assert!(out.contains(needle), "missing {needle}:\n{out}");
        }
        let rss: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(rss > 1_000_000.0, "{rss}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
    }
}
