//! GitHub App side: app auth and the GitHub calls we make.
