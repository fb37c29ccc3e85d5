//! The HTML report of a sweep (placeholder, filled in below).
