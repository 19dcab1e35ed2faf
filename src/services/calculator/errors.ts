// Codes the calculator services put in the trailers (key `archlab-error-code`) of a failed call,
// next to the gRPC status named beside each.
export const CalculatorErrors = {
  /** INVALID_ARGUMENT: an operand is NaN or ±Infinity (proto doubles can carry both). */
  INVALID_OPERAND: 'calculator_invalid_operand',
  /** INVALID_ARGUMENT: the result is not a finite double (e.g. 1e308 × 10). */
  RESULT_OUT_OF_RANGE: 'calculator_result_out_of_range',
  /** UNAVAILABLE: calculator-subtract could not reach calculator-add (refused, reset, not placed). */
  ADD_UNAVAILABLE: 'calculator_add_unavailable',
  /** DEADLINE_EXCEEDED: calculator-add did not answer calculator-subtract within its deadline. */
  ADD_TIMEOUT: 'calculator_add_timeout',
} as const;
