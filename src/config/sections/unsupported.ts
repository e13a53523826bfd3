// Top-level sections of the public reference's config that this version does not implement.
// They are refused with a plain "not supported by this version" rather than "unknown key", so a
// user who brings a reference file knows the key is real and simply not here yet. When a section
// is implemented, it moves from this table into the root schema.
export const UNSUPPORTED_SECTIONS: Readonly<Record<string, string>> = {
  ids: '',
  ips: '',
  dlp: '',
  dns: '',
  audit: 'the audit trail lives in the storage database: see storage.retention.audit_max_age_days and audit_max_count',
  l7: '',
  container: '',
  zones: '',
  routing: '',
  loadbalancer: '',
  qos: '',
  geoip: '',
  aliases: 'define ip_set aliases under firewall.aliases',
  interface_groups: '',
  auto_response: '',
  auto_capture: '',
  management: '',
  enterprise: '',
  tls: 'TLS is not implemented',
  schedules: '',
};
