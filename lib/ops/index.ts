// Operations on tensors. Exported from the package as `ops`.
export { gru, gruParamNames, gruParamShapes, type GruGradients, type GruOptions, type GruParams, type GruResult } from './gru';
export * from './math';
