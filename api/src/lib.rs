//! podctl manifest API.
