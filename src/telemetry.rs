//! Logging: plain or JSON lines, filtered by an EnvFilter.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Targets capped at `info` whatever the requested level: at `debug` the AWS SDK logs the resolved
/// identity (the access key id, in `Credentials`' `Debug` output) from these.
pub const CAPPED_TARGETS: &[&str] = &[
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
];

/// The filter for a `--log-level` value (an `EnvFilter` directive string; invalid → `info`), with the
/// SDK's identity logging capped at `info`.
pub fn filter(spec: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Install the global subscriber.
pub fn init(format: LogFormat, filter_spec: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(filter_spec))
        .with_target(false);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
