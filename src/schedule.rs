//! Scheduling definitions: Windows Task Scheduler XML, a cron line, systemd
//! service + timer units. Pure text generation.
