// Where the shared external test data lives (../shared/testdata beside the repository, read in
// place; its README says what each folder is and where it comes from).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/support -> the repository's parent */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SHARED_TESTDATA = path.resolve(repoRoot, '..', 'shared', 'testdata');
/** tcpdump's malformed and truncated packets */
export const PCAP_MALFORMED = path.join(SHARED_TESTDATA, 'pcap-malformed');
/** Suricata's verification cases for DNS */
export const SURICATA_VERIFY_DNS = path.join(SHARED_TESTDATA, 'suricata-verify', 'dns');
