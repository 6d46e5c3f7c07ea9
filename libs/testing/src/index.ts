export * from './unique';
export * from './wait-for';
