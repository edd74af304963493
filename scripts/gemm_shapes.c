// gemm_shapes.c: times the single-precision GEMMs of one training chunk of the large configuration
// (64-256-256-8) exactly as MLPWorkspace calls them (row-major CBLAS, same transposes, leading
// dimensions and beta), best of 5 batches of 2000 calls, one OpenBLAS thread, and the 4096x256x256
// sgemm that defines the limit. The forward GEMMs are timed both ways: "fwd" reads the weight
// [out, in] transposed by the GEMM (focal-ddp up to 0.3.0), "fwd NN" reads the transposed copy
// [in, out] that MLPWorkspace.load makes once per step (0.3.1); the chunk total uses the latter. Used in docs/PERFORMANCE.md to split a step's forward and backward
// time into GEMMs and the rest, and to compare chunk sizes per 4096 rows.
//   cc -O2 scripts/gemm_shapes.c -o /tmp/gemm_shapes -lopenblas
//   OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /tmp/gemm_shapes 256   # rows per chunk
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
double run(const char*name,int ta,int tb,int m,int n,int k,int lda,int ldb,int ldc,float beta){
  float*a=malloc(sizeof(float)*4096*1024),*b=malloc(sizeof(float)*4096*1024),*c=malloc(sizeof(float)*4096*1024);
  for(int i=0;i<4096*1024;i++){a[i]=(i%7)*0.1f;b[i]=(i%5)*0.1f;c[i]=0;}
  int reps=2000; double best=1e9;
  for(int r=0;r<5;r++){double t0=now();for(int i=0;i<reps;i++)cblas_sgemm(CblasRowMajor,ta?CblasTrans:CblasNoTrans,tb?CblasTrans:CblasNoTrans,m,n,k,1.0f,a,lda,b,ldb,beta,c,ldc);double t=(now()-t0)/reps;if(t<best)best=t;}
  printf("%-12s m=%4d n=%4d k=%4d  %8.2f us  %6.1f GFLOP/s\n",name,m,n,k,best*1e6,2.0*m*n*k/best/1e9);
  free(a);free(b);free(c);
  return best;
}
int main(int argc, char **argv) {
  int C=argc>1?atoi(argv[1]):256;
  double t=0;
  double old=0;
  old+=run("L1 fwd",0,1,C,256,64,64,64,256,1);
  old+=run("L2 fwd",0,1,C,256,256,256,256,256,1);
  old+=run("L3 fwd",0,1,C,8,256,256,256,8,1);
  t+=run("L1 fwd NN",0,0,C,256,64,64,256,256,1);
  t+=run("L2 fwd NN",0,0,C,256,256,256,256,256,1);
  t+=run("L3 fwd NN",0,0,C,8,256,256,8,8,1);
  printf("forward GEMMs: %.1f us transposed by the GEMM, %.1f us from the transposed copy\n",old*1e6,t*1e6);
  t+=run("L3 dW",1,0,8,256,C,8,256,256,0);
  t+=run("L3 dX",0,0,C,256,8,8,256,256,0);
  t+=run("L2 dW",1,0,256,256,C,256,256,256,0);
  t+=run("L2 dX",0,0,C,256,256,256,256,256,0);
  t+=run("L1 dW",1,0,256,64,C,256,64,64,0);
  printf("chunk of %d rows: GEMMs %.1f us; per 4096 rows %.1f us\n",C,t*1e6,t*1e6*4096/C);
  run("limit",0,0,4096,256,256,256,256,256,0);
}
