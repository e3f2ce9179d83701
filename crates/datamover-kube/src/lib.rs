//! The Kubernetes backend (in progress).
