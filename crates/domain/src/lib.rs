//! Domain rules shared by services: a booking's schedule is checked and
//! counted by orders and expanded into interventions by planning, with the
//! same code so that both always agree on the occurrences.

pub mod address;
pub mod csv;
pub mod money;
pub mod pdf;
pub mod schedule;
pub mod violations;
