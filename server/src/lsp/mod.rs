//! The LSP edge (see the language-server issue).
