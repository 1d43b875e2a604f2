//! The preview gateway (see the gateway issue).
