//! Webhook messages (Slack, Teams, Discord, plain JSON) built from a run's
//! report. Pure: the caller sends them.
