//! Per-kind controllers (City, Agent, Rig, Provider, Formula, Order) and the manager that runs
//! them. Each is split into a pure planner and an executor; they arrive with the controller
//! issue, and this module is the place they live.
