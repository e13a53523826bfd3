// `alerting`: where alerts go. v1 has one sink, Suricata-style EVE JSON lines in a file.
import { z } from 'zod';
import { show } from '../messages.js';
import { bool, custom, strictObject } from '../zod-helpers.js';

const filePath = custom((v, fail): string => {
  if (typeof v !== 'string' || v.trim() === '') fail(`expected a file path; got ${show(v)}`);
  return v as string;
});

const eveSchema = strictObject({
  enabled: bool().default(true),
  /** relative paths are resolved against the config file's directory by the loader */
  path: filePath.default('/var/log/ebpfsentinel/eve.json'),
});

export const alertingSchema = strictObject(
  {
    eve: eveSchema.prefault({}),
  },
  {
    enabled: 'alerting is configured per sink: use alerting.eve.enabled',
    dedup_window_secs: '',
    throttle_window_secs: '',
    throttle_max: '',
    smtp: '',
    otlp: '',
    routes: '',
  },
);

export type AlertingConfig = z.output<typeof alertingSchema>;
