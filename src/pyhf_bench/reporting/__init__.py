"""Results: the report and its plots, the dashboard, noise, profiling, accelerator estimates."""
