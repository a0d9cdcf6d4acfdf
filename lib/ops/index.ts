// Operations on tensors. Exported from the package as `ops`.
export { gru, gruParamNames, gruParamShapes, type GruGradients, type GruOptions, type GruParams, type GruResult } from './gru';
export { lstm, lstmParamNames, lstmParamShapes, type LstmGradients, type LstmOptions, type LstmParams, type LstmResult } from './lstm';
export { rnn, rnnParamNames, rnnParamShapes, type RnnGradients, type RnnOptions, type RnnParams, type RnnResult } from './rnn';
export * from './math';
