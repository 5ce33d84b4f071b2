"""Reading a `GET /metrics` answer in tests: each sample's value by name and labels, as Prometheus parses it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[str, dict[Labels, float]]


def parse_samples(text: str) -> Samples:
    """`{name: {sorted (label, value) pairs: value}}` for every sample of the text format."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples
