//! route53-failover-operator: reconciles `FailoverRecord` resources into Route 53 health checks and a
//! PRIMARY/SECONDARY failover record pair, and writes Route 53's health view back into status.
//!
//! The reconcile is a pipeline: read Route 53 → plan with pure functions ([`plan`]) → apply → write
//! status ([`status`]). Route 53 sits behind the narrow [`route53::Route53`] trait.

pub mod accounts;
pub mod admin;
pub mod change_watch;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod error;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod naming;
pub mod ownership;
pub mod plan;
pub mod plan_command;
pub mod policy;
pub mod process_metrics;
pub mod reconcile;
pub mod route53;
pub mod secure_metrics;
pub mod status;
pub mod switch;
pub mod target_watch;
pub mod targets;
pub mod telemetry;
pub mod text;
pub mod watched;

pub use error::{Error, Result};
