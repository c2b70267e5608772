"""Built-in SLA policies, one YAML file each; listed by ``servq.sla.registry``."""
