// The `nat` config section (tc-nat-ingress and tc-nat-egress).
import { defineSection } from '../../config/section.js';
import { natSchema } from './schema.js';

export const natSection = defineSection({
  key: 'nat',
  schema: natSchema,
  reload: 'live',
  description: 'tc-nat-ingress / tc-nat-egress: rules reload atomically; translations of rules still present stay, those of removed rules end',
});
