//! The Prometheus/OpenMetrics text of the fleet-wide totals, written by `prometheus-client`'s
//! encoder (a collector over values read from the KV; no in-process registry).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::series::{BUCKETS, Metric};
use super::snapshot::Totals;

/// The `Content-Type` of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exposition of `totals`, ending with `# EOF`.
pub fn encode(totals: Totals) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Fleet(totals)));
    let mut text = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in label data.
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        tracing::error!("metrics exposition could not be encoded");
    }
    text
}

#[derive(Debug)]
struct Fleet(Totals);

impl Collector for Fleet {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let aggregate = &self.0.aggregate;
        for metric in Metric::ALL {
            let names = metric.label_names();
            let labels = |values: &[String]| -> Vec<(&'static str, String)> {
                names.iter().copied().zip(values.iter().cloned()).collect()
            };
            if metric.is_histogram() {
                let mut family =
                    encoder.encode_descriptor(metric.name(), metric.help(), None, MetricType::Histogram)?;
                let series: Vec<_> =
                    aggregate.histograms.iter().filter(|(s, _)| s.metric == metric).collect();
                if series.is_empty() && names.is_empty() {
                    family.encode_histogram::<NoLabelSet>(0.0, 0, &pairs(&[0; BUCKETS.len() + 1]), None)?;
                }
                for (series, hist) in series {
                    let labels = labels(&series.labels);
                    let mut one = family.encode_family(&labels)?;
                    one.encode_histogram::<NoLabelSet>(
                        hist.sum_seconds(),
                        hist.count(),
                        &pairs(&hist.buckets),
                        None,
                    )?;
                }
            } else {
                let mut family =
                    encoder.encode_descriptor(metric.name(), metric.help(), None, MetricType::Counter)?;
                let series: Vec<_> = aggregate.counters.iter().filter(|(s, _)| s.metric == metric).collect();
                if series.is_empty() && names.is_empty() {
                    family.encode_counter::<NoLabelSet, u64, u64>(&0, None)?;
                }
                for (series, count) in series {
                    let labels = labels(&series.labels);
                    family.encode_family(&labels)?.encode_counter::<NoLabelSet, u64, u64>(count, None)?;
                }
            }
        }
        let help = "Legacy MCP sessions used within their idle lifetime, fleet-wide.";
        encoder
            .encode_descriptor("atoms_sessions_active", help, None, MetricType::Gauge)?
            .encode_gauge(&(self.0.sessions_active as i64))?;
        let help = "Builds of the instances that flushed in the last day (version, commit, region).";
        let mut builds = encoder.encode_descriptor("atoms_build", help, None, MetricType::Info)?;
        for [version, commit, region] in &self.0.builds {
            let labels =
                [("version", version.as_str()), ("commit", commit.as_str()), ("region", region.as_str())];
            builds.encode_info(&labels)?;
        }
        Ok(())
    }
}

/// `(upper bound, count)` pairs, the last bound `f64::MAX` (written `+Inf`), as the encoder
/// wants them (it accumulates them itself).
fn pairs(buckets: &[u64; BUCKETS.len() + 1]) -> Vec<(f64, u64)> {
    BUCKETS.iter().copied().chain([f64::MAX]).zip(buckets.iter().copied()).collect()
}
