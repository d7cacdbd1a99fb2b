//! Shared by the end-to-end tests: a minimal valid city.

/// A City whose default provider is `shell`, and that Provider: the smallest valid city.
pub const CITY: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: City
metadata:
  name: town
spec:
  defaultProvider: shell
---
apiVersion: gascity.dev/v1alpha1
kind: Provider
metadata:
  name: shell
spec:
  command: bash
";
