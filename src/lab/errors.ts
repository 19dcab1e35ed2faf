export const LabErrors = {
  /** The system under test did not start (or its instances did not come up) in time. */
  SYSTEM_FAILED: 'lab_system_failed',
  /** A scheduled fault could not be carried out (unknown instance, not running). */
  FAULT_FAILED: 'lab_fault_failed',
  /** A setup request of the experiment did not succeed. */
  SETUP_FAILED: 'lab_setup_failed',
  /** `archlab report <dir>`: the directory holds no report.json. */
  REPORT_NOT_FOUND: 'lab_report_not_found',
} as const;
