// gemm_shapes.c: times the single-precision GEMMs of one training chunk of the large configuration
// (64-256-256-8) exactly as MLPWorkspace calls them (row-major CBLAS, same transposes, leading
// dimensions and beta), best of 5 batches of 2000 calls, one OpenBLAS thread, and the 4096x256x256
// sgemm that defines the limit. The forward GEMMs are timed both ways: "fwd" reads the weight
// [out, in] transposed by the GEMM (focal-ddp up to 0.3.0), "fwd NN" reads the transposed copy
// [in, out] that MLPWorkspace.load makes once per step (0.3.1); the chunk total uses the latter. Used in docs/PERFORMANCE.md to split a step's forward and backward
// time into GEMMs and the rest, and to compare chunk sizes per 4096 rows.
//   cc -O2 scripts/gemm_shapes.c -o /tmp/gemm_shapes -lopenblas
//   OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /tmp/gemm_shapes 256   # rows per chunk
// With a second argument "step", it instead runs a training step's GEMMs only, with the step's
// memory traffic (MLPWorkspace and CompactExactReducer's buffers): each step reads the next 2048
// rows of a 1,000,000 x 64 float32 data set (not in cache), runs the eight GEMM calls of each of
// its 8 chunks (the bias gradients' three GEMVs are left out) (forward into the activations, backward into that chunk's own gradient slot, as the
// exact reduction keeps every chunk's gradient until the step's end), and nothing else: no bias,
// ReLU, loss, reduction or optimizer. It prints the best and median step time of 5 batches of 200
// steps and what that is as a fraction of the limit (4096 rows x 503,808 credited FLOPs per step of
// two processes against twice this process's limit sgemm, measured before and after as focal-bench
// does: median of 15 calls), i.e. the fraction a step could reach if everything but OpenBLAS's
// GEMMs took no time. The two processes are not synchronised (one may measure its limit while the
// other fills its data set), so their limits, and the fractions, are noisier than focal-bench's; the
// step times are not. A third argument "one-slot" writes every chunk's gradient into the same slot
// (it stays in cache), to measure what keeping all of a step's chunk gradients costs the GEMMs.
// Start two at once for the 2-rank figure (scripts/step_ceiling.sh does, beside focal-bench):
//   (OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /tmp/gemm_shapes 256 step &
//    OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /tmp/gemm_shapes 256 step; wait)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static void gemm(int ta,int tb,int m,int n,int k,const float*a,int lda,const float*b,int ldb,float beta,float*c,int ldc){
  cblas_sgemm(CblasRowMajor,ta?CblasTrans:CblasNoTrans,tb?CblasTrans:CblasNoTrans,m,n,k,1.0f,a,lda,b,ldb,beta,c,ldc);
}
static int cmp(const void*x,const void*y){double a=*(const double*)x,b=*(const double*)y;return a<b?-1:a>b;}
/* GFLOP/s of the limit's sgemm (4096x256x256, C = A.B), median of 15 calls after a warm-up, as focal-bench measures it. */
static double limit_gflops(void){
  float*a=calloc(4096*256,4),*b=calloc(256*256,4),*c=calloc(4096*256,4);
  for(int i=0;i<4096*256;i++)a[i]=(i%7)*0.1f;
  for(int i=0;i<256*256;i++)b[i]=(i%5)*0.1f;
  double t[15]; gemm(0,0,4096,256,256,a,256,b,256,0,c,256);   /* warm-up, then the median of 15, as focal-bench */
  for(int r=0;r<15;r++){double t0=now();gemm(0,0,4096,256,256,a,256,b,256,0,c,256);t[r]=now()-t0;}
  qsort(t,15,sizeof(double),cmp);
  free(a);free(b);free(c); return 2.0*4096*256*256/t[7]/1e9;
}
static int step_mode(int C,int one_slot){
  const int F=64,H=256,K=8,rows=1000000,per=2048,chunks=per/C;
  const long P=(long)H*F+H+(long)H*H+H+(long)K*H+K;   /* 84,488 parameters */
  float*x=malloc(sizeof(float)*(long)rows*F); for(long i=0;i<(long)rows*F;i++)x[i]=(i%11)*0.01f;
  float*w1=malloc(4*H*F),*w2=malloc(4*H*H),*w3=malloc(4*K*H),*w1t=malloc(4*H*F),*w2t=malloc(4*H*H),*w3t=malloc(4*K*H);
  for(int i=0;i<H*F;i++)w1[i]=w1t[i]=(i%3)*0.01f;
  for(int i=0;i<H*H;i++)w2[i]=w2t[i]=(i%5)*0.01f;
  for(int i=0;i<K*H;i++)w3[i]=w3t[i]=(i%7)*0.01f;
  float*a1=calloc((long)C*H,4),*a2=calloc((long)C*H,4),*lg=calloc((long)C*K,4),*d3=calloc((long)C*K,4),*dA=calloc((long)C*H,4),*dB=calloc((long)C*H,4);
  for(int i=0;i<C*K;i++)d3[i]=(i%13)*0.01f;
  float*slots=calloc((long)chunks*P,4);
  double lim0=limit_gflops();
  enum{B=5,S=200}; double per_step[B]; long pos=0;
  for(int bt=0;bt<B;bt++){
    double t0=now();
    for(int s=0;s<S;s++){
      for(int c=0;c<chunks;c++){
        const float*xc=x+pos*F; pos+=C; if(pos+C>rows)pos=0;
        float*g=slots+(one_slot?0:(long)c*P),*g1=g,*g2=g+H*F+H,*g3=g2+H*H+H;
        gemm(0,0,C,H,F,xc,F,w1t,H,1,a1,H);          /* forward, as MLPWorkspace.forward(x:rows:) */
        gemm(0,0,C,H,H,a1,H,w2t,H,1,a2,H);
        gemm(0,0,C,K,H,a2,H,w3t,K,1,lg,K);
        gemm(1,0,K,H,C,d3,K,a2,H,0,g3,H);           /* backward, as MLPWorkspace.backward */
        gemm(0,0,C,H,K,d3,K,w3,H,0,dA,H);
        gemm(1,0,H,H,C,dA,H,a1,H,0,g2,H);
        gemm(0,0,C,H,H,dA,H,w2,H,0,dB,H);
        gemm(1,0,H,F,C,dB,H,xc,F,0,g1,F);
      }
    }
    per_step[bt]=(now()-t0)/S;
  }
  double lim1=limit_gflops(), lim=(lim0+lim1)/2;
  qsort(per_step,B,sizeof(double),cmp);
  double credited=4096.0*503808;   /* a 4096-row step of two processes, 2048 rows each */
  printf("step GEMMs only%s, %d chunks of %d rows: best %.3f ms, median %.3f ms; limit sgemm %.1f / %.1f GFLOP/s (before / after)\n",
         one_slot?" (one gradient slot)":"",chunks,C,per_step[0]*1e3,per_step[B/2]*1e3,lim0,lim1);
  printf("fraction of a 2-process limit if all else were free: best %.3f, median %.3f\n",
         credited/per_step[0]/(2*lim*1e9),credited/per_step[B/2]/(2*lim*1e9));
  return 0;
}
int main(int argc, char **argv) {
  int C=argc>1?atoi(argv[1]):256;
  if(argc>2) return step_mode(C,argc>3&&!strcmp(argv[3],"one-slot"));
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
