// The devDependency `express4` (npm:express@4) ships no types of its own; Express 5's describe
// everything the tests use of it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
