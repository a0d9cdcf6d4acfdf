// The devices every backend-generic suite runs on: the CPU always, CUDA when it works here.
import { backendInfo, type DeviceName } from '../../lib';

export const cudaInfo = backendInfo().cuda;
export const testDevices: DeviceName[] = cudaInfo.available ? ['cpu', 'cuda'] : ['cpu'];
