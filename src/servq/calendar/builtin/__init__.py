"""Built-in calendars, one YAML file each; listed by ``servq.calendar.registry``."""
